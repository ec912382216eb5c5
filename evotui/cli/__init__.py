"""The `evotui` command line: the click group and its commands (``evotui.cli.commands``), their bodies
(demo, report, export, compare, serve) and the program's entry point (``evotui.cli.entry``).

Empty on purpose: the entry point is in this package, and importing a package runs its ``__init__``;
`evotui watch DIR` starts its bulk read's worker before anything heavy (click included) is imported.
"""

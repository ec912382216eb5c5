"""`evotui watch`: the Textual app, the tailing of run directories, screens, widgets and the rendering of
untrusted text. Only ``evotui.cli`` imports this package; it uses ``evotui.analysis`` and never the reverse."""

"""One module per dashboard page: a frozen <Name>Config, a <Name>Result with a `summary`, a
`run_<name>(config, progress=None)` function and `PRESETS`. Import the modules directly:
`from bnjax.experiments import landscape`."""

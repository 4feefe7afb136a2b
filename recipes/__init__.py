"""The recipes shipped with dsreg: YAML data, one file per corpus, packaged as dsreg.recipes."""

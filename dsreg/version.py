"""The installed dsreg version, recorded in every manifest."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsreg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

"""The package version, in its own module so that ``api`` and ``cli`` need not import the
package root."""

__version__ = "0.1.0"

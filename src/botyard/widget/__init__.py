"""The website widget: publishable keys, the visitor API under /v1/widget/ and /widget.js."""

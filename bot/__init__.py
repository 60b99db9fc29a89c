"""The Teams bot: Bot Framework hosting, HTTP server and conversation logic."""

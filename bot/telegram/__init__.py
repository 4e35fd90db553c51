"""The Telegram front end (python-telegram-bot v22): application, handlers, and the Telegram channel."""

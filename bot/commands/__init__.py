"""The ``frontdesk`` subcommands other than training: chat, staff accounts, test stories.

Wired into the command line by ``bot.cli``; each module adds its own parsers."""

"""What accounts tell the apps built on them. `accounts` imports nothing from `gallery`:
the gallery listens here for what it must do with its own data."""

from django.dispatch import Signal

# Sent with `user` inside the transaction that deletes the account, before the user row
# goes. A receiver that raises stops the deletion (the transaction rolls back).
account_deleting = Signal()

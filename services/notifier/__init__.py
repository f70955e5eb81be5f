"""The notifier: notification events from every service, stored and sent to the user's
channels (Telegram, webhook, Discord, e-mail). Hosted in the gateway process (host.py); the
publish side is mandi/platform/notify_events.py."""

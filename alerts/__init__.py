"""Alerts and weekly reports (issue 16): rules read the database after each full collection cycle
(alerts.rules), their state and an outbox of messages live in the database (alerts.state), and a
delivery job drains the outbox through Apprise channels exactly once per message as far as the channel
allows (alerts.delivery, alerts.channels). Weekly posture reports go through the same outbox
(alerts.reports). The worker schedules all of it (collectors.worker); the Alerts page configures it."""

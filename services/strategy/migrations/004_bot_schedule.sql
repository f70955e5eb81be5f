-- Bot schedules (services/strategy/bot_schedule.py): the daily window in which the runner keeps
-- a bot running. NULL: the bot is started and stopped by hand only. schedule_day is the IST
-- day on which the schedule last started the bot (it starts a bot once a day, so a bot a user
-- stops inside the window stays stopped until the next day's).
ALTER TABLE bots ADD COLUMN schedule jsonb;
ALTER TABLE bots ADD COLUMN schedule_day date;

CREATE INDEX bots_scheduled ON bots (id) WHERE schedule IS NOT NULL;

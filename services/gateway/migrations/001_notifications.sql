-- Notifications: per-user channel settings, every notification the user was sent (with read
-- state, for the UI's list) and each channel's delivery of it. Written only by the gateway's
-- notifier and its notification endpoints.

-- One row per user: `channels` holds each channel's config (secrets included — this table is
-- never returned unmasked), `events` the per-event, per-channel on/off matrix.
CREATE TABLE notify_settings (
    user_id    text        PRIMARY KEY,
    channels   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    events     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- event_id is the publisher's id: a redelivered stream entry stores nothing twice.
CREATE TABLE notifications (
    id         bigserial   PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE,
    user_id    text        NOT NULL,
    kind       text        NOT NULL,
    text       text        NOT NULL,
    data       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_user_id ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE notification_deliveries (
    notification_id bigint      NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    error           text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, channel)
);

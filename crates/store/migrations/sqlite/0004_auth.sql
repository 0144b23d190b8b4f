-- A user whose password was generated (the first admin's one-time password)
-- must choose a new one before the API answers anything else.
ALTER TABLE app_user ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

-- Revoking a user's sessions (password change, disabling) deletes them by user.
CREATE INDEX session_by_user ON session (user_id);

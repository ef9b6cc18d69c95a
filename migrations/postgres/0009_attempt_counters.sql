-- The failed-redemption counters become the counters of every throttle on guessing
-- (sign-in, sign-up, redemption), with exponential backoff: a count of attempts not yet
-- forgotten and the time of the last one, rather than a fixed window. Old rows keep
-- their subjects, which the new throttles no longer use; housekeeping drops them.
ALTER TABLE redemption_failures RENAME TO attempt_counters;
ALTER TABLE attempt_counters RENAME COLUMN window_start TO last_attempt_at;
ALTER TABLE attempt_counters RENAME COLUMN failures TO attempts;
ALTER INDEX redemption_failures_pkey RENAME TO attempt_counters_pkey;

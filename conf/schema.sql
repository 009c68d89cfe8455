-- WeaveIt schema.  Compiled into the module and run on a worker's first
-- connection; safe to run any number of times, from several workers and
-- several nginx hosts at once: the advisory lock serialises the runs and
-- each numbered migration is applied once, recorded in weaveit_schema.
--
-- The seed's three tables keep their names and meaning (users, video_jobs,
-- videos); an existing seed database is upgraded in place.

SELECT pg_advisory_xact_lock(7245327115563012096);

CREATE TABLE IF NOT EXISTS weaveit_schema (
    version     INTEGER PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 1) THEN
        RETURN;
    END IF;

    CREATE TABLE IF NOT EXISTS users (
        wallet_address  TEXT PRIMARY KEY,
        prompt_points   INTEGER NOT NULL DEFAULT 0,
        created_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    CREATE TABLE IF NOT EXISTS video_jobs (
        job_id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        wallet_address  TEXT NOT NULL
                        REFERENCES users(wallet_address) ON DELETE CASCADE,
        script_body     TEXT,
        status          TEXT NOT NULL DEFAULT 'pending',
        error_message   TEXT,
        created_at      TIMESTAMP NOT NULL DEFAULT NOW(),
        updated_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    CREATE TABLE IF NOT EXISTS videos (
        video_id        UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        job_id          UUID NOT NULL
                        REFERENCES video_jobs(job_id) ON DELETE CASCADE,
        wallet_address  TEXT NOT NULL
                        REFERENCES users(wallet_address) ON DELETE CASCADE,
        video_data      BYTEA NOT NULL,
        duration_sec    INTEGER,
        format          TEXT DEFAULT 'mp4',
        created_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    -- The seed declared script_body NOT NULL, which made clearing it
    -- after success impossible.
    ALTER TABLE video_jobs ALTER COLUMN script_body DROP NOT NULL;

    ALTER TABLE video_jobs
        ADD COLUMN IF NOT EXISTS title        TEXT,
        ADD COLUMN IF NOT EXISTS progress     SMALLINT NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS claimed_by   TEXT,
        ADD COLUMN IF NOT EXISTS lease_until  TIMESTAMPTZ,
        ADD COLUMN IF NOT EXISTS attempts     INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS points_charged INTEGER NOT NULL DEFAULT 0;

    ALTER TABLE video_jobs DROP CONSTRAINT IF EXISTS video_jobs_status_check;
    ALTER TABLE video_jobs ADD CONSTRAINT video_jobs_status_check
        CHECK (status IN ('pending', 'generating', 'completed', 'failed'));
    ALTER TABLE video_jobs DROP CONSTRAINT IF EXISTS video_jobs_progress_check;
    ALTER TABLE video_jobs ADD CONSTRAINT video_jobs_progress_check
        CHECK (progress BETWEEN 0 AND 100);

    -- EXTERNAL: stored out of line but uncompressed, so substring() reads
    -- only the TOAST chunks a byte range needs and octet_length() does not
    -- detoast.  MP4 does not compress anyway.
    ALTER TABLE videos ALTER COLUMN video_data SET STORAGE EXTERNAL;

    CREATE INDEX IF NOT EXISTS videos_job_id_idx ON videos (job_id);
    CREATE INDEX IF NOT EXISTS videos_wallet_created_idx
        ON videos (wallet_address, created_at DESC);
    CREATE INDEX IF NOT EXISTS video_jobs_wallet_address_idx
        ON video_jobs (wallet_address);
    CREATE INDEX IF NOT EXISTS video_jobs_status_lease_idx
        ON video_jobs (status, lease_until);

    INSERT INTO weaveit_schema (version) VALUES (1);
END
$weaveit$;

-- The seed's timestamps are "timestamp without time zone", written by
-- NOW() in the session's time zone: this spells them in ISO 8601 UTC.
CREATE OR REPLACE FUNCTION weaveit_iso(ts TIMESTAMP) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT to_char((ts AT TIME ZONE current_setting('TimeZone'))
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Creates a pending job for POST /api/generate in one round trip: makes
-- the user (with the signup points), charges the cost, inserts the job.
-- outcome: 'created', 'points' (too few points) or 'busy' (queue full);
-- on the last two nothing at all is written.
CREATE OR REPLACE FUNCTION weaveit_create_job(
    p_job_id UUID, p_wallet TEXT, p_script TEXT, p_title TEXT,
    p_signup_points INTEGER, p_cost INTEGER, p_max_pending INTEGER,
    OUT outcome TEXT, OUT points INTEGER)
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM video_jobs WHERE status = 'pending')
       >= p_max_pending
    THEN
        outcome := 'busy';
        RETURN;
    END IF;

    BEGIN
        INSERT INTO users (wallet_address, prompt_points)
            VALUES (p_wallet, p_signup_points)
            ON CONFLICT (wallet_address) DO NOTHING;

        UPDATE users SET prompt_points = prompt_points - p_cost
            WHERE wallet_address = p_wallet
            RETURNING prompt_points INTO points;

        IF points < 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'WI402';
        END IF;

        INSERT INTO video_jobs (job_id, wallet_address, script_body, title,
                                status, points_charged)
            VALUES (p_job_id, p_wallet, p_script, p_title, 'pending',
                    p_cost);
        outcome := 'created';

    EXCEPTION WHEN SQLSTATE 'WI402' THEN
        -- the block's writes are rolled back: report what the user has
        outcome := 'points';
        SELECT coalesce(max(prompt_points), p_signup_points) INTO points
            FROM users WHERE wallet_address = p_wallet;
    END;
END
$$;

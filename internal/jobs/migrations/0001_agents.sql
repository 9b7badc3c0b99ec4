-- The agents sharing the database and the jobs paused now. Valid in both
-- PostgreSQL and SQLite (bigint and text are affinities SQLite reads), so
-- there is one file. Times are Unix milliseconds from the agents' clocks:
-- one type for both databases.
CREATE TABLE amove_agents (
	id           text PRIMARY KEY,
	client_id    text NOT NULL,
	queues       text NOT NULL,
	started_ms   bigint NOT NULL,
	heartbeat_ms bigint NOT NULL,
	stopped_ms   bigint
);
CREATE TABLE amove_job_pauses (
	job_id    bigint PRIMARY KEY,
	paused_ms bigint NOT NULL
);

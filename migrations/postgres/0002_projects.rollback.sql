DROP TABLE rate_limit_buckets;
DROP TABLE stream_secrets;
DROP TABLE streams;
DROP TABLE project_keys;
DROP TABLE projects;

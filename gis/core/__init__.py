"""The core every part stands on: settings, the database (engine, embedded cluster,
migrations), the tables, the shared vocabulary and the domain errors."""

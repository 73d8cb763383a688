"""Process-wide settings: environment > .env file > defaults.

Only things that differ per machine live here (where the database is, which config file);
what to watch lives in the YAML config (`newswatch.config`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSWATCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    config: Path = Field(default=Path("newswatch.yaml"), description="the YAML config file")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="where the SQLite file lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under data_dir when unset"
    )
    prefect_database_url: str | None = Field(
        default=None,
        description="the database `newswatch up` gives a Prefect server it starts; "
        "SQLite in PREFECT_HOME when unset",
    )

    story_threshold: float = Field(
        default=0.2,
        ge=0.05,
        le=1.0,
        description="how similar (estimated Jaccard over title and opening text) two articles "
        "must be to count as one story; chosen on tests/data/stories (bench/stories.py)",
    )
    story_window_hours: float = Field(
        default=48, gt=0, description="how far apart in time copies of one story may be"
    )

    def resolved_database_url(self) -> str:
        """The database to use: the configured URL, else a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'newswatch.db').as_posix()}"


def get_settings() -> Settings:
    return Settings()

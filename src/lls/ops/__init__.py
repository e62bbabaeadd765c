"""Operations support that is no licensing rule: logs, systemd notification, the data-dir lock."""

"""Background work on APScheduler's asyncio scheduler: each job a thin call into the domain."""

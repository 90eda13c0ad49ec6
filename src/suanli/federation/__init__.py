"""Federation: independently run sites join the service (the broker) through site agents.

- :mod:`.protocol`: the messages (pydantic), shared by the broker and the agent;
- :mod:`.registry`: site keys, registration, heartbeats, the broker's view of each site;
- :mod:`.leases`: assignments under leases (pull, renew, log, result, expiry);
- :mod:`.executor`: the broker side as a service executor (the live scheduler places and
  retries federated jobs with the code it already has), with price-first placement;
- :mod:`.ledger`: settlement of completed jobs;
- :mod:`.agent`: the agent loop a site runs next to its own engine.

See docs/federation.md. Nothing heavy is imported here.
"""

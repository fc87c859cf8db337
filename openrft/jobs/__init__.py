"""Fine-tuning jobs: states, the store-facing job table, the worker and the training child.

    states.py   statuses and the one transition table (decision J1)
    store.py    jobs as OpenAI's objects (create, page, actions); the SQL is `store/jobs.py`
    events.py   events and checkpoints in the store, shaped as OpenAI's objects
    prepare.py  `validating_files`: the D2/D3 checks and the D4 split, before a job queues
    secrets.py  an agentic job's tool header values, apart from its row, until it finishes
    worker.py   claims jobs under a lease, runs each through a launcher, requeues the dead
    launcher.py what starts an attempt's child (a process on this host by default)
    child.py    the child: `run_job` with a DB-backed event sink and control

Nothing here imports torch; only the child process does, through `openrft.train`.
"""

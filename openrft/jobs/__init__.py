"""Fine-tuning jobs: states, the store-facing job table, the worker and the training child.

    states.py   statuses and the one transition table (decision J1)
    store.py    jobs, events and checkpoints in SQLite, shaped as OpenAI's objects
    prepare.py  `validating_files`: the D2/D3 checks and the D4 split, before a job queues
    worker.py   claims jobs under a lease, runs each in a child process, requeues the dead
    child.py    the child: `run_job` with a DB-backed event sink and control

Nothing here imports torch; only the child process does, through `openrft.train`.
"""

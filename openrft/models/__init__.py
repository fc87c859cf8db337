"""Models: loading (`registry`), the embedded `openrft-tiny` (`tiny`), sampling with token ids
(`sampling`), JSON-schema-constrained decoding (`structured`, `constrain`), chat templates and
tool calls (`chat`), and the chat-completions engine (`generate`). Imports torch: import the
submodule you need, never from `openrft.graders` or `openrft.data`.
"""

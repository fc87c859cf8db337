"""Models: the completion seam that training, serving and eval sampling share (`completion`,
the protocol; `local`, the in-process engine), loading (`registry`), the embedded
`openrft-tiny` (`tiny`), sampling with token ids (`sampling`), JSON-schema-constrained decoding
(`structured`, `constrain`), chat templates and tool calls (`chat`), and chat completions over a
loaded model (`generate`). The submodules import torch (`completion` does not): import the one
you need, never from `openrft.graders` or `openrft.data`.
"""

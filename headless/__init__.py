"""Run ComfyUI workflows headless over ComfyUI's HTTP API (`rectiflow-run`, cli.py).

Nothing here imports ComfyUI: convert.py turns an editor-format (UI) workflow into an API prompt using
the server's /object_info, server.py starts and stops a ComfyUI process on 127.0.0.1, client.py queues
the prompt, follows it over the /ws websocket and downloads its outputs (outputs.py keeps every file the
server names inside the output folder). `rectiflow-batch` (batch.py) runs one workflow over a sweep (sweep.py) on
local servers (local_backend.py) or Ray actors (ray_backend.py), one folder per job and a manifest that resumes
(manifest.py). Every server answer is treated as untrusted input.
"""

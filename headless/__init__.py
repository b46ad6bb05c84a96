"""Run ComfyUI workflows headless over ComfyUI's HTTP API (`rectiflow-run`, cli.py).

Nothing here imports ComfyUI: convert.py turns an editor-format (UI) workflow into an API prompt using
the server's /object_info, server.py starts and stops a ComfyUI process on 127.0.0.1, client.py queues
the prompt, follows it over the /ws websocket and downloads its outputs (outputs.py keeps every file the
server names inside the output folder). Every server answer is treated as untrusted input.
"""

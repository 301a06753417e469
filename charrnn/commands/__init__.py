"""The commands: each parses its flags, calls the library (the facade, charrnn.trained, for a run)
and prints. Imported light, so `charrnn --help` answers without torch: a command's own work is
imported when it runs.

    main.py          `charrnn`: the parser of every command; train, eval, info, datasets; one-line errors
    arguments.py     the shared flags: a config dataclass's fields as flags; RUN, --device, --checkpoint
    write.py         sample, poem (and poem --check), names
    interactive.py   the completion prompt of `charrnn sample --interactive`
    inside.py        plot, inspect, neurons: looking inside a run (drawn by charrnn.views)
    serve.py         serve: the flags, then uvicorn on charrnn.serve's app factory
    export.py        export: ONNX or a static web page (charrnn.export)
    demo.py          `make run`: train the default model for a few minutes, then sample
"""

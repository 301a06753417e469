"""Export: a trained run outside Python and torch (`charrnn export RUN --format onnx|web`).

    onnx_graph.py   the CharRNN as an ONNX graph of ONNX's own LSTM/GRU/RNN operators, state explicit
    folder.py       the export folders: model.onnx with its README, or the static web page
    static/         the web page's files: index.html, charrnn.js (forward pass, sampling, poems), page.js, style.css

The `export` command (its flags) is charrnn/commands/export.py.
"""

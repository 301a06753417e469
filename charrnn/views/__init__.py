"""Views: what the network learned, as pictures and pages. Knows nothing of serving.

    curves.py     training curves from run folders' metrics.jsonl (matplotlib): charrnn plot
    terminal.py   a text coloured by surprisal, entropy or one unit, in the terminal: charrnn inspect
    html.py       the same as one self-contained page, with tooltips and a unit picker: --html
    command.py    the plot, inspect and neurons sub-commands (flags; the work is imported on use)
    static/inside.js   the page's renderer, inlined by html.py and served by charrnn serve
"""

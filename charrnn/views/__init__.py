"""Views: what the network learned, drawn as pictures and pages. Knows nothing of runs being served,
and nothing of the facade: the commands (charrnn/commands/inside.py) and the server hand it what
to draw (metrics, an Inspection, the neuron finder's Findings).

    curves.py     training curves from run folders' metrics.jsonl (matplotlib): charrnn plot
    terminal.py   a text coloured by surprisal, entropy or one unit, in the terminal: charrnn inspect
    html.py       the same as one self-contained page, with tooltips and a unit picker: --html
    static/inside.js   the page's renderer, inlined by html.py and served by charrnn serve
"""

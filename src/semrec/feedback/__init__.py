"""Learning from what shoppers do with the answers: which answer led to which event (attribution),
which model each shopper is served (A/B arms), and the figures that compare them."""

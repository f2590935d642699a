"""Using a trained network: images in, networks from checkpoints or MINDIR exports, top classes out."""

"""Building blocks shared by models: frozen ImageNet backbones (:mod:`.backbones`) and
normalisation layers such as GDN (:mod:`.gdn`)."""

"""Building blocks shared by models: frozen ImageNet backbones and their shipped weights (:mod:`.imagenet`) and
normalisation layers such as GDN (:mod:`.gdn`)."""

{
  "targets": [{ "target_name": "callgrind", "sources": ["addon.c"] }]
}

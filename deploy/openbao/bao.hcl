# OpenBao in server mode for docker-compose.yml: integrated (raft) storage on the vault-data
# volume, the API on port 8200 inside the compose network. The vault-init step initialises and
# unseals it; see README "Beyond one machine" for what to change on a real network (TLS on the
# listener, auto-unseal).

storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  # Plain HTTP inside the compose network only; terminate TLS here before exposing it.
  tls_disable = true
}

api_addr     = "http://vault:8200"
cluster_addr = "http://vault:8201"

# Containers cannot mlock without IPC_LOCK, and raft storage asks for it to be off.
disable_mlock = true
ui            = false
log_level     = "info"

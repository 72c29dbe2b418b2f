# OpenBao in server mode for docker-compose.yml: integrated (raft) storage on the vault-data
# volume, the API on port 8200 inside the compose network, every request audited to a file on
# the vault-audit volume. The vault-init step initialises and unseals it; see docs/production.md
# and docs/security.md for what to change on a real network (TLS on the listener, auto-unseal).

storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
  # Raft's production timing (the default, 5, is a slower development setting): initialising
  # took 8 s with the default and 1.6 s with 1, measured on this project's 2-core machine.
  performance_multiplier = 1
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

# Every request and answer, one JSON line each, secrets HMAC'd (docs/security.md). Declared
# here: OpenBao refuses to create audit devices through its API. The vault-init step waits
# until it is on.
audit "file" "file" {
  description = "every request to Vault"
  options {
    file_path = "/openbao/logs/audit.log"
  }
}

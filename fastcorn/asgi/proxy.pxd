# Proxy headers: who may say who the client is (ProxyPolicy), and what they say.
#
#   server start               ─▶ ServerState.proxy = ProxyPolicy(--forwarded-allow-ips,
#                                  --proxy-headers, --proxy-protocol)
#   http_template (scope.pyx)  ─▶ policy.headers and policy.trusts_peer(client, server)?
#                                  yes: proxied_template(policy, template), else a plain dict
#   http_scope (scope.pyx)     ─▶ a ProxiedTemplate's scopes only:
#                                  apply_proxy_headers(policy, scope, headers) sets
#                                  client / scheme / server from X-Forwarded-* or Forwarded
#   PROXY core (protocol/proxy.py) ─▶ policy.protocol, policy.trusts_peer for the balancer

cdef class ProxyPolicy:
    cdef readonly bint headers          # --proxy-headers
    cdef readonly bint protocol         # --proxy-protocol
    cdef readonly bint trust_all        # '*' among --forwarded-allow-ips
    cdef readonly bint trust_unix       # 'unix': every unix-socket connection
    cdef readonly frozenset addresses   # single addresses, normalised (str(ip_address))
    cdef readonly tuple networks        # ipaddress networks of more than one address
    cdef readonly frozenset unix_paths  # 'unix:PATH': the listeners whose peers are trusted

    cpdef bint trusts_host(self, str host)
    cpdef bint trusts_peer(self, tuple client, tuple server)


cdef class ProxiedTemplate(dict):
    # A trusted connection's scope template; copies of it are plain dicts.
    cdef readonly ProxyPolicy policy


cdef dict proxied_template(ProxyPolicy policy, dict template)
cdef void apply_proxy_headers(ProxyPolicy policy, dict scope, list headers)

"""python-ldap (compiled from its sdist against OpenLDAP's libldap) against a directory:
bind, add an entry, search for it. LDAP_URI, LDAP_BASE, LDAP_BIND_DN, LDAP_PASSWORD."""

import os

import ldap
import ldap.modlist

base = os.environ["LDAP_BASE"]
directory = ldap.initialize(os.environ["LDAP_URI"])
directory.protocol_version = ldap.VERSION3
directory.simple_bind_s(os.environ["LDAP_BIND_DN"], os.environ["LDAP_PASSWORD"])
person = f"cn=Ada Lovelace,{base}"
entry = {
    "objectClass": [b"person"],
    "cn": [b"Ada Lovelace"],
    "sn": [b"Lovelace"],
    "description": [b"first programmer"],
}
directory.add_s(person, ldap.modlist.addModlist(entry))
found = directory.search_s(base, ldap.SCOPE_SUBTREE, "(sn=Lovelace)", ["description"])
for dn, attributes in found:
    print(f"ldap {ldap.__version__} found {dn}: {attributes['description'][0].decode()}")
print(f"ldap whoami {directory.whoami_s()}")
directory.unbind_s()

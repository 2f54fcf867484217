"""One line per library, each doing real work: an XSLT transform (lxml, libxml2/libxslt),
a certificate signed and checked and a token encrypted (cryptography, OpenSSL), a buffered
polygon (shapely, GEOS), a projected coordinate (pyproj, PROJ and its database), two binary
serialisers, a validated model, and a gRPC call over loopback (grpcio, protobuf)."""

import datetime
from concurrent import futures

import grpc
import msgpack
import orjson
import pyproj
import shapely
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import wrappers_pb2
from lxml import etree
from pydantic import BaseModel, ValidationError

# lxml: XPath and XSLT
document = etree.fromstring(b"<shop><item price='3'>tea</item><item price='5'>cake</item></shop>")
style = etree.XSLT(
    etree.fromstring(
        b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:template match="/"><total><xsl:value-of select="sum(//item/@price)"/></total>
        </xsl:template></xsl:stylesheet>"""
    )
)
print(f"lxml total {style(document).getroot().text} items {document.xpath('count(//item)'):.0f}")

# cryptography: a self-signed certificate, verified; a Fernet token
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corpus.example")])
now = datetime.datetime.now(datetime.UTC)
certificate = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now)
    .not_valid_after(now + datetime.timedelta(days=1))
    .sign(key, hashes.SHA256())
)
certificate.verify_directly_issued_by(certificate)
fernet = Fernet(Fernet.generate_key())
secret = fernet.decrypt(fernet.encrypt(b"attack at dawn")).decode()
print(f"cryptography cert {certificate.subject.rfc4514_string()} fernet {secret!r}")

# shapely (GEOS) and pyproj (PROJ)
area = shapely.Point(0, 0).buffer(1.0, quad_segs=64).area
print(f"shapely {shapely.__version__} circle area {area:.3f}")
to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
easting, northing = to_utm.transform(3.0, 51.0)
print(f"pyproj utm31 {easting:.0f} {northing:.0f}")

# orjson, msgpack, pydantic
record = {"id": 7, "tags": ["a", "b"], "when": now.replace(microsecond=0)}
print(f"orjson {orjson.dumps({'id': 7, 'ok': True}).decode()}")
packed = msgpack.packb({"id": 7, "tags": ["a", "b"]})
print(f"msgpack {len(packed)} bytes {msgpack.unpackb(packed)}")


class Order(BaseModel):
    id: int
    tags: list[str]
    when: datetime.datetime


order = Order.model_validate_json(orjson.dumps(record))
try:
    Order.model_validate({"id": "seven", "tags": [], "when": now})
except ValidationError as error:
    invalid = error.errors()[0]["loc"][0]
print(f"pydantic id {order.id} invalid {invalid}")


# grpc: a server and a client in one process, over loopback
def shout(request: wrappers_pb2.StringValue, context) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=request.value.upper())


handler = grpc.unary_unary_rpc_method_handler(
    shout,
    request_deserializer=wrappers_pb2.StringValue.FromString,
    response_serializer=wrappers_pb2.StringValue.SerializeToString,
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers(
    (grpc.method_handlers_generic_handler("corpus.Echo", {"Shout": handler}),)
)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    call = channel.unary_unary(
        "/corpus.Echo/Shout",
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )
    reply = call(wrappers_pb2.StringValue(value="hello"), timeout=10)
    print(f"grpc {grpc.__version__} reply {reply.value}")
server.stop(grace=None)

#!/usr/bin/env python3
"""Writes a generated Flagr eval-cache export (or a vexilla-proxy snapshot) of N flags.

Usage: gen_flags.py N OUT [--tag TAG] [--snapshot]
Each flag has two segments (one with three constraints), three variants with attachments and
two tags; with --tag every flag also carries TAG. --snapshot adds the snapshot header.
"""
import json
import sys


def flag(i, tag):
    variants = [{"ID": i * 10 + v, "Key": "v%d" % v, "Attachment": {"color": "c%d" % v, "weight": v}} for v in range(3)]
    tags = [{"ID": 1, "Value": "team-%d" % (i % 20)}, {"ID": 2, "Value": "area-%d" % (i % 7)}]
    if tag:
        tags.append({"ID": 3, "Value": tag})
    return {
        "ID": i, "Key": "flag-%d" % i, "Enabled": True, "SnapshotID": i, "EntityType": "",
        "DataRecordsEnabled": False, "Tags": tags, "Variants": variants,
        "Segments": [
            {"ID": i * 10, "FlagID": i, "RolloutPercent": 50, "Constraints": [
                {"ID": i * 10, "Property": "country", "Operator": "IN", "Value": "[\"US\",\"CA\"]"},
                {"ID": i * 10 + 1, "Property": "age", "Operator": "GTE", "Value": "18"},
                {"ID": i * 10 + 2, "Property": "email", "Operator": "EREG", "Value": "\"@example[.]com$\""}],
             "Distributions": [{"VariantID": i * 10, "VariantKey": "v0", "Percent": 50},
                               {"VariantID": i * 10 + 1, "VariantKey": "v1", "Percent": 50}]},
            {"ID": i * 10 + 1, "FlagID": i, "RolloutPercent": 100, "Constraints": [],
             "Distributions": [{"VariantID": i * 10 + 2, "VariantKey": "v2", "Percent": 100}]},
        ],
    }


def main():
    count, out = int(sys.argv[1]), sys.argv[2]
    tag = sys.argv[sys.argv.index("--tag") + 1] if "--tag" in sys.argv else None
    document = {}
    if "--snapshot" in sys.argv:
        # First, as the proxy writes it.
        document["VexillaSnapshot"] = {"FlagrVersion": "1.2"}
    document["Flags"] = [flag(i, tag) for i in range(1, count + 1)]
    with open(out, "w") as handle:
        if "--snapshot" in sys.argv:
            # One flag per line, as the proxy saves a snapshot.
            header = json.dumps(document["VexillaSnapshot"], separators=(",", ":"))
            handle.write('{"VexillaSnapshot":%s,"Flags":[' % header)
            handle.write(",\n".join(json.dumps(f, separators=(",", ":")) for f in document["Flags"]))
            handle.write("]}")
        else:
            json.dump(document, handle, separators=(",", ":"))


if __name__ == "__main__":
    main()

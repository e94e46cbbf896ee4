"""A second S3 client (boto3) for the site-store tests and benchmark: makes
buckets, lists what a store holds with each object's SHA-256, and uploads a
folder the plain way (the baseline of scripts/bench-push).

    s3_tool.py ENDPOINT mb BUCKET
    s3_tool.py ENDPOINT ls BUCKET PREFIX        -> JSON {key: {size, sha256}}
    s3_tool.py ENDPOINT cat BUCKET KEY          -> the object's bytes
    s3_tool.py ENDPOINT rm BUCKET KEY
    s3_tool.py ENDPOINT upload DIR BUCKET PREFIX -> seconds
    s3_tool.py ENDPOINT iam-key USER BUCKET      -> "KEY_ID SECRET" (moto with IAM
        auth on: a user allowed everything, its key, and the bucket)
"""
import hashlib
import json
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def main():
    endpoint, verb, *args = sys.argv[1:]
    s3 = client(endpoint)
    if verb == "mb":
        s3.create_bucket(Bucket=args[0])
    elif verb == "ls":
        bucket, prefix = args
        out = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"]] = {"size": obj["Size"], "sha256": hashlib.sha256(body).hexdigest()}
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
    elif verb == "rm":
        bucket, key = args
        s3.delete_object(Bucket=bucket, Key=key)
    elif verb == "cat":
        bucket, key = args
        sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    elif verb == "upload":
        folder, bucket, prefix = args
        # boto3's defaults: 8 MiB parts, 10 threads.
        config = TransferConfig()
        started = time.perf_counter()
        for root, _, files in os.walk(folder):
            for name in sorted(files):
                path = os.path.join(root, name)
                key = prefix + "/" + os.path.relpath(path, folder)
                s3.upload_file(path, bucket, key, Config=config)
        print(f"{time.perf_counter() - started:.3f}")
    elif verb == "iam-key":
        user, bucket = args
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name="us-east-1",
        )
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps(policy))
        s3.create_bucket(Bucket=bucket)
        print(key["AccessKeyId"], key["SecretAccessKey"])
    else:
        sys.exit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()

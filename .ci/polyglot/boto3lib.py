"""What the boto3 checks of the standalone emulator share: their arguments, the one-attempt boto3
client, the emulator's control surface (/_emulator/...) and the modelled-exception assertion."""

import argparse
import contextlib
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

from checklib import CheckError, expect, one_line


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT of the standalone emulator")
    parser.add_argument("--settle-ms", type=int, default=200, help="the emulator's --settle-ms")
    return parser.parse_args()


def client(endpoint, region="us-east-1"):
    """An ElastiCache client of `endpoint` with static fake credentials."""
    return boto3.client(
        "elasticache",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(
            # botocore reads `max_attempts` as the number of RETRIES (1 => 2 attempts in all);
            # `total_max_attempts` counts the first attempt too and wins when both are set. One
            # attempt only, so an injected fault reaches the script as it was sent.
            retries={"max_attempts": 1, "total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
        ),
    )


class Control:
    """The emulator's control surface."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def request(self, method, path, form=None):
        """(status, body) of a control request; a form is sent url-encoded."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def call_counts(self):
        """{action: requests received} from GET /_emulator/calls."""
        status, body = self.request("GET", "/_emulator/calls")
        expect(status == 200, f"GET /_emulator/calls answered {status}: {body!r}")
        counts = {}
        for line in body.splitlines():
            action, _, count = line.strip().rpartition(" ")
            if action:
                counts[action] = int(count)
        return counts

    def hold(self, name):
        status, body = self.request("POST", "/_emulator/hold", {"name": name})
        expect(status == 200, f"POST /_emulator/hold {name} answered {status}: {body!r}")

    def release(self, name):
        status, body = self.request("POST", "/_emulator/release", {"name": name})
        expect(status == 200, f"POST /_emulator/release {name} answered {status}: {body!r}")

    @contextlib.contextmanager
    def held(self, name):
        """What is named `name` stays in its transitional status inside the block."""
        self.hold(name)
        try:
            yield
        finally:
            self.release(name)


def raises(exc_class, fn, *, request_id=False, **kwargs):
    """The exception fn(**kwargs) must raise, as exc_class (a modelled boto3 exception); with
    `request_id`, it must carry AWS's request id too."""
    try:
        response = fn(**kwargs)
    except exc_class as err:
        if request_id:
            expect(err.response["ResponseMetadata"].get("RequestId"), f"no RequestId on {exc_class.__name__}")
        return err
    except botocore.exceptions.ClientError as err:
        error = err.response.get("Error", {})
        raise CheckError(
            f"raised {type(err).__name__} (code {error.get('Code')!r}, HTTP "
            f"{err.response.get('ResponseMetadata', {}).get('HTTPStatusCode')}: {error.get('Message')!r}), "
            f"expected {exc_class.__name__}"
        ) from None
    response = dict(response)
    response.pop("ResponseMetadata", None)
    raise CheckError(f"expected {exc_class.__name__}, got a response: {one_line(response, 200)}")

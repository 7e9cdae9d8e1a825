"""Print the manylinux tag auditwheel can give a wheel built on this machine
(the glibc it needs), e.g. manylinux_2_34_x86_64.

    python3 .ci/wheel_platform.py WHEEL
"""

import re
import subprocess
import sys

out = subprocess.run(["auditwheel", "show", sys.argv[1]], check=True,
                     capture_output=True, text=True).stdout
print(re.search(r'"(manylinux_\d+_\d+_\w+)"', " ".join(out.split())).group(1))

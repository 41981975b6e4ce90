qingling-entry/1
index 18
time 2025-03-05T02:00:00Z
actor sh-tri
unit SH
lead QH-SH-2025-001
action lead.move
from REGISTERED
to UNDER_TRIAGE
transition triage
workflow 06c9e6e019aab8cd82d123696e1dc22be6897c418251deaa305e59fe8203cefb
clear _due 2025-03-10
clear _epoch 1
payload AAAAKQEgSEE013UQtb37Jzb2StdB0O+UA4NgJOKH7ncOLKkQUncwn+O8dBu6AAAAAA==

— sh-tri GXF3mPWNY9OCs97mDu5KH+/69cZPLSfpQc14mzXQ0IYQkXAwY8k1BgVBX3dGhpvxbpfomZH8GYRWLXC1Otc3iSYxWgI=

# Lists the installed packages Composer recorded in installed.php (PHP source, not JSON):
# every 'versions' entry with an install_path, except the root package.
import re, sys
text = open(sys.argv[1]).read()
versions = text.split("'versions' => array(", 1)[1]
for m in re.finditer(r"\n        '([^']+)' => array\((.*?)\n        \),", versions, re.S):
    name, body = m.group(1), m.group(2)
    pv = re.search(r"'pretty_version' => '([^']*)'", body)
    if name == '__root__' or "'install_path'" not in body or not pv:
        continue
    print(name, pv.group(1))

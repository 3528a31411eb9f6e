/* Prints every statement the module prepares, one per line as
 * "label<TAB>sql", with apr_dbd's %s placeholders numbered %1, %2, ... so
 * the benchmark can run the module's own SQL through pgbench. */
#include <stdio.h>
#include <string.h>

#include "pf_sql.h"

int main(void)
{
    for (int i = 0; i < PF_SQL_COUNT_; i++) {
        const char *s = pf_sql_statements[i].text;
        int n = 0;

        printf("%s\t", pf_sql_statements[i].label);
        for (; *s; s++) {
            if (s[0] == '%' && s[1] == 's') {
                printf("%%%d", ++n);
                s++;
            }
            else if (s[0] == '%' && s[1] == '%') {
                putchar('%');
                s++;
            }
            else {
                putchar(*s);
            }
        }
        putchar('\n');
    }
    return 0;
}
